"""The operations layer: project discovery, the mock engine, plan, Automation API runs, config edits,
credentials, and the history and notifier every day-2 capability shares."""
