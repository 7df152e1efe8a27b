// The Pilotage page's charts, drawn by Chart.js from the report the page embeds.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pilotage-donnees").textContent);
  var s = data.series;
  var bleu = "#000091", rouge = "#c9191e";
  var common = { responsive: true, maintainAspectRatio: false, animation: false };
  new Chart(document.getElementById("graphe-mois"), {
    type: "line",
    data: { labels: s.mois, datasets: [
      { label: "Télétransmis", data: s.teletransmis_par_mois, borderColor: bleu, backgroundColor: bleu },
      { label: "Papier", data: s.papier_par_mois, borderColor: rouge, backgroundColor: rouge }] },
    options: Object.assign({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }, common)
  });
  new Chart(document.getElementById("graphe-matieres"), {
    type: "bar",
    data: { labels: s.matieres.map(function (m) { return "Matière " + m; }), datasets: [
      { label: "Télétransmis", data: s.teletransmis_par_matiere, backgroundColor: bleu },
      { label: "Papier", data: s.papier_par_matiere, backgroundColor: rouge }] },
    options: Object.assign({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }, common)
  });
  new Chart(document.getElementById("graphe-taux"), {
    type: "bar",
    data: { labels: data.arrondissements.map(function (a) { return "Arr. " + a.arrondissement; }),
      datasets: [{ label: "Taux de télétransmission (%)", backgroundColor: bleu,
        data: data.arrondissements.map(function (a) { return a.taux === null ? null : Math.round(a.taux * 1000) / 10; }) }] },
    options: Object.assign({ scales: { y: { beginAtZero: true, max: 100 } } }, common)
  });
})();
