pytest_plugins = ["hostops.testing.pytest_plugin"]
