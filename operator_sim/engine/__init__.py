"""The simulator's behaviour: clock, transaction lifecycle (and later intake, préfecture, scenarios).

Owns the rules of what happens to a transaction and when. Talks to storage only through the
named methods of `store.interface` (`SimulatorStore`, `AsyncSimulatorStore`; several writes
made one commit with `atomic`) and to time only through a `Clock`; knows nothing of HTTP.
"""
