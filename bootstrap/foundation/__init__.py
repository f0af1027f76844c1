"""The bootstrap project's components: one module per entity, none shared with the main program."""
