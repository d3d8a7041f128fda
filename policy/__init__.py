"""coldmail's CrossGuard policy pack.

``pack`` lists every policy (``ALL``) and its defaults; the rules live by area in ``dns``, ``servers``
and ``mailcow``, each validator next to its policy under the same name; ``sdk`` reads what the engine
sends (proxies, unknowns, secrets, pack config); ``stack_index`` indexes a stack for the stack rules;
``runner`` evaluates the pack without the engine. ``__main__`` serves the pack and is never imported.
"""
