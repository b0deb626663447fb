"""The `kapps` command, on top of the suite: it dispatches to the apps (`apps.cli`), the tuner
(`tuner.cli`) and the model server (`serving.server`), none of which imports another's command.
Importing it is cheap: the floors load when a command needs them."""
