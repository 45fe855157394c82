"""Volumes and paths the operator gives every model pod (users may not reuse them)."""

from __future__ import annotations

MODEL_VOLUME = "model-repository"
MODEL_MOUNT_PATH = "/models"
SHM_VOLUME = "dshm"
SHM_MOUNT_PATH = "/dev/shm"
FETCH_HOME_VOLUME = "fetch-home"
FETCH_HOME_PATH = "/home/fetch"
"""The download tools' HOME (config, credential caches): the image's may not be writable
by the non-root user the pod runs as."""

RESERVED_VOLUMES = frozenset({MODEL_VOLUME, SHM_VOLUME, FETCH_HOME_VOLUME})
RESERVED_MOUNT_PATHS = (MODEL_MOUNT_PATH, SHM_MOUNT_PATH, FETCH_HOME_PATH)
