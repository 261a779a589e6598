"""The page as a static site that runs the models in the visitor's browser (``facemotion
web-export``): :mod:`.assets` fetches and checks the browser's runtime files, :mod:`.export`
writes the site. The page's own code is ``service/static/`` (``engine.js`` runs the models)."""
