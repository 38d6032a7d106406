"""The app's panes, one folder each: ``spec.py`` registers it (``tui.app.registry``), ``pane.py`` builds it."""
