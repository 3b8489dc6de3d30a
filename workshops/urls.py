"""workshops URLs."""

urlpatterns: list = []
