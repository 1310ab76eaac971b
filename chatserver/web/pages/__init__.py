"""The pages and files browsers load: the widget, the console, the admin area and the
snippet preview."""
