"""Enrollments: enroll directly, list and read the caller's, record progress, cancel."""

from __future__ import annotations

from decimal import Decimal

from flask import g

from webapp.services import enrollments as enrollment_service
from webapp.services.catalog import ACCESS_STATUSES
from webapp.services.errors import NotFound
from webapp.web.api.framework import api_route, parse_body, path_id, respond
from webapp.web.api_responses import EnrollmentOut
from webapp.web.api_schemas import CreateEnrollment, UpdateEnrollmentProgress


@api_route(
    "POST",
    "/enrollments",
    "Enroll directly: a free course, or a completed payment session of the caller; idempotent",
    body=CreateEnrollment,
    ok_status=201,
    ok_description="Enrolled",
    response=EnrollmentOut,
    other_ok={200: ("Already enrolled: that enrollment", EnrollmentOut)},
    errors=(403, 404, 409, 503),
)
def create_enrollment():
    body = parse_body(CreateEnrollment)
    before = {e.id for e in enrollment_service.list_for_user(g.user.id)}
    enrollment = enrollment_service.enroll_direct(g.user.id, body.course_id, body.payment_session_id)
    return respond(EnrollmentOut.of(enrollment), 200 if enrollment.id in before else 201)


@api_route(
    "GET", "/enrollments", "The caller's enrollments, newest first", response=EnrollmentOut, response_is_list=True
)
def list_enrollments():
    return respond([EnrollmentOut.of(e) for e in enrollment_service.list_for_user(g.user.id)])


@api_route(
    "GET",
    "/enrollments/course/{course_id}",
    "The caller's enrollment in a course (the one with access first, else the newest)",
    response=EnrollmentOut,
    errors=(404,),
)
def get_enrollment_for_course(course_id: str):
    path_id(course_id, "that enrollment")
    mine = [e for e in enrollment_service.list_for_user(g.user.id) if e.course_id == course_id]
    if not mine:
        raise NotFound(enrollment_service.NOT_FOUND_MESSAGE)
    with_access = [e for e in mine if e.status in ACCESS_STATUSES]
    return respond(EnrollmentOut.of((with_access or mine)[0]))


@api_route(
    "GET", "/enrollments/{enrollment_id}", "One of the caller's enrollments", response=EnrollmentOut, errors=(404,)
)
def get_enrollment(enrollment_id: str):
    return respond(EnrollmentOut.of(enrollment_service.get_for_user(g.user.id, path_id(enrollment_id))))


@api_route(
    "PATCH",
    "/enrollments/{enrollment_id}",
    "Record progress: progress (0–100, two decimals), currentLectureId, currentLecture, completedLectures",
    body=UpdateEnrollmentProgress,
    response=EnrollmentOut,
    errors=(404, 409),
)
def update_enrollment(enrollment_id: str):
    path_id(enrollment_id, "that enrollment")
    enrollment_service.get_for_user(g.user.id, enrollment_id)
    body = parse_body(UpdateEnrollmentProgress)
    # A JSON number as written (50.5 stays 50.5, never a binary float's 50.4999…).
    progress = Decimal(str(body.progress)) if isinstance(body.progress, float) else body.progress
    lecture_id = body.current_lecture_id
    if lecture_id is None and body.current_lecture is not None:
        lecture_id = str(body.current_lecture)  # our lectures are numbered: the number is their id
    enrollment = enrollment_service.update_progress(
        g.user.id,
        enrollment_id,
        progress=progress,
        current_lecture=body.current_lecture,
        completed_lectures=body.completed_lectures,
        current_lecture_id=lecture_id,
    )
    return respond(EnrollmentOut.of(enrollment))


@api_route(
    "POST",
    "/enrollments/{enrollment_id}/cancel",
    "Give up access to a course (not a refund); idempotent",
    response=EnrollmentOut,
    errors=(404, 409),
)
def cancel_enrollment(enrollment_id: str):
    return respond(EnrollmentOut.of(enrollment_service.cancel_enrollment(g.user.id, path_id(enrollment_id))))
