"""Tools built on the library: policy files, simulation, reports, the command line.

Nothing in the library imports from here; these modules use the library the
way a vendor's code does.
"""
