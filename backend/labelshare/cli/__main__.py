from labelshare.cli import app

app(prog_name="labelshare")
