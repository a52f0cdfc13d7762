"""The linked asset register: assets, links, observations, history, runs, findings, waivers, changes.

`store.open_register` is the entry point; `classify` (a sibling module) works on its snapshot.
"""
