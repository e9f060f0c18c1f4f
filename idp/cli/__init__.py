"""The ``idp`` command line: click commands, grouped by what they manage."""
