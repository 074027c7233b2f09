"""The ground floor every stage stands on: settings, AWS access and the lake's layout.

Imports nothing from the stages (``jobs``, ``streaming``, ``quality``, ``warehouse``), the sample
data or the command line; only ``schemas`` lies below it.
"""
