"""``wlz`` sub-commands. Each module here defines ``register(app: typer.Typer)``, called
by ``wlz_pipeline.cli`` at start-up; modules import heavy libraries inside the commands
so that ``wlz --help`` stays fast."""
