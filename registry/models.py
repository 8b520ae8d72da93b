"""Imports every module that declares tables, so their migrations register."""

from registry import ledger  # noqa: F401
from registry.agreements import model as agreements_model  # noqa: F401
from registry.audit import log, store, witnesses  # noqa: F401
from registry.breaches import model as breaches_model  # noqa: F401
from registry.controllers import model as controllers_model  # noqa: F401
from registry.delivery import model as delivery_model  # noqa: F401
from registry.measures import model as measures_model  # noqa: F401
from registry.notifications import model as notifications_model  # noqa: F401
from registry.subprocessors import model as subprocessors_model  # noqa: F401
from registry.tasks import model as tasks_model  # noqa: F401
from registry.transfers import adequacy as transfers_adequacy  # noqa: F401
from registry.transfers import store as transfers_store  # noqa: F401
