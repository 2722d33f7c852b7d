"""contract_app: an app that lives only under tests/ and uses every extension point of the app contract.

It is the worked example of docs/APPS.md. Tests register it with ``Platform.create(apps=...)`` and
``moesaic.cli.app_loader``; it is never an entry point.
"""
