"""Pilotage @CTES: the préfecture référent's view of who is connected, who transmits what, and
who must be reminded.

Pure functions over the store's rows (`store.pilotage`): reading the collectivités' and paper
deposits' files (`registre`), the indicators and lists to act on (`indicateurs`). The admin
API, the dashboard and the CLI are thin layers over them.
"""
