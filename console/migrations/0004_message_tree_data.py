"""Linear sessions become single-branch trees (a step of its own: PostgreSQL refuses
schema changes in the transaction that has just written rows under deferred FKs)."""

from decimal import Decimal

from django.db import migrations
from django.db.models import Count, DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce


def linear_sessions_to_trees(apps, schema_editor):
    """Each message's parent is the one before it; in a playground every answer hangs
    off the prompt before it, as siblings. The leaf is the last message; totals are
    summed once. Set-based, so a large database migrates in a few statements."""
    Message = apps.get_model("console", "Message")
    Session = apps.get_model("console", "Session")
    Message.objects.filter(status="complete").update(status="ok")
    earlier = Message.objects.filter(session=OuterRef("session"), id__lt=OuterRef("id"))
    Message.objects.update(parent=Subquery(earlier.order_by("-id").values("id")[:1]))
    in_playground = Message.objects.filter(session__session_type="playground", role="assistant")
    in_playground.update(
        parent=Subquery(earlier.filter(role="user").order_by("-id").values("id")[:1])
    )
    own = Message.objects.filter(session=OuterRef("pk")).order_by().values("session")
    Session.objects.update(
        current_leaf=Subquery(
            Message.objects.filter(session=OuterRef("pk")).order_by("-id").values("id")[:1]
        ),
        message_count=Coalesce(Subquery(own.annotate(n=Count("id")).values("n")), Value(0)),
        total_tokens=Coalesce(
            Subquery(own.annotate(n=Sum("prompt_tokens") + Sum("completion_tokens")).values("n")),
            Value(0),
        ),
        total_cost_usd=Coalesce(
            Subquery(own.annotate(n=Sum("cost_usd")).values("n")),
            Value(Decimal("0")),
            output_field=DecimalField(max_digits=20, decimal_places=8),
        ),
    )


def trees_to_linear_statuses(apps, schema_editor):
    apps.get_model("console", "Message").objects.filter(status="ok").update(status="complete")


class Migration(migrations.Migration):
    dependencies = [("console", "0003_message_tree")]

    operations = [migrations.RunPython(linear_sessions_to_trees, trees_to_linear_statuses)]
