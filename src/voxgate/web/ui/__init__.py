"""Server-rendered pages (Jinja2 templates in ``templates/``, style sheets in ``static/``)."""
