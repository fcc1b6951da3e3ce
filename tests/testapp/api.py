from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny

from tests.testapp.models import Note


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "slug", "body"]


class NoteViewSet(viewsets.ModelViewSet):
    """Open to anyone: the tests here are about tenant isolation, not authorisation."""

    serializer_class = NoteSerializer
    permission_classes = [AllowAny]
    authentication_classes = []

    def get_queryset(self):
        return Note.objects.all()
