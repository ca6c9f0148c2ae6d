"""Teacher backends: spec parsing, server launchers, one async client, the request cache."""

from curate.curation.teachers.batch import ServedTeacher, make_teacher
from curate.curation.teachers.cache import RequestCache
from curate.curation.teachers.client import ChatClient, ClientConfig, FatalTeacherError, Outcome
from curate.curation.teachers.endpoint import Endpoint, discover, request_body
from curate.curation.teachers.spec import TeacherSpec, parse_teacher

__all__ = ["ChatClient", "ClientConfig", "Endpoint", "FatalTeacherError", "Outcome",
           "RequestCache", "ServedTeacher", "TeacherSpec", "discover", "make_teacher", "parse_teacher",
           "request_body"]
