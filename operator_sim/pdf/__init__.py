"""The PDFs the simulator prints, on reportlab (drawing) and pypdf (reading, merging).

- `courrier`: letters — the préfecture's courriers about an act (2-1, 3-1, 4-1, 5-1) and the
  pilotage reminder to a collectivité (`Courrier`, `Paragraphe`, `render_courrier`)
- `bordereau`: the acknowledgement slip of a transmitted act (`BordereauFacts`,
  `render_bordereau`)
- `tampon`: the operator's stamp merged onto an acknowledged act's first page (`Tampon`,
  `stamp_pdf`)

Pure: facts in, bytes out; no clock, no storage, nothing else of operator_sim imported (but
`_lazy`, for this surface), so every layer above (engine, pilotage, web) may use it. Test
material (the corpus's hand-written minimal PDFs) is `operator_sim.testing`, never this.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .bordereau import BordereauFacts, Etape, Fichier, render_bordereau
    from .courrier import Courrier, Paragraphe, render_courrier
    from .tampon import Tampon, TamponError, stamp_pdf

# reportlab and pypdf load on first use, not with the package.
_WHERE = {
    "BordereauFacts": "bordereau", "Etape": "bordereau", "Fichier": "bordereau",
    "render_bordereau": "bordereau",
    "Courrier": "courrier", "Paragraphe": "courrier", "render_courrier": "courrier",
    "Tampon": "tampon", "TamponError": "tampon", "stamp_pdf": "tampon",
}

__all__ = ["BordereauFacts", "Courrier", "Etape", "Fichier", "Paragraphe", "Tampon",
           "TamponError", "render_bordereau", "render_courrier", "stamp_pdf"]

__getattr__ = lazy_exports(__name__, _WHERE)
