"""exports URLs."""

urlpatterns: list = []
