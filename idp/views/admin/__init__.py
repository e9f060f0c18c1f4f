"""The admin console at ``/admin/``: server-rendered pages for people holding the ``admin`` or
``auditor`` role (``access`` decides who gets in; ``console`` holds the pages)."""
