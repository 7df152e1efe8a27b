"""Pure @ctes vocabulary: codes, names, classification, messages and archives.

Works on bytes and objects only: no network, no database, no clock of its own.
"""
