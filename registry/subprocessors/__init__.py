"""Sub-processors (GDPR Art. 28(2) and 28(4)): the registry of the processor's
own processors, their engagement per controller, each controller's
authorisation state, and change notices with objection windows."""
