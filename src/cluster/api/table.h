/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-side printing for `kubectl get`: the columns and the cells of a meta.k8s.io/v1
 * Table for each served kind, computed as upstream's printers compute them, so kubectl shows
 * the same STATUS, READY, RESTARTS and AGE it shows against a real cluster. The API server
 * wraps these in the Table object (kind, resourceVersion, rows with their objects).
 */
#ifndef SKIFF_CLUSTER_API_TABLE_H
#define SKIFF_CLUSTER_API_TABLE_H

#include <stdint.h>
#include <time.h>

#include <jansson.h>

struct api_resource;

/*
 * The columnDefinitions array for @r's kind: objects with name, type, format, description
 * and priority (0: always shown, 1: only with -o wide). Kinds without a printer get Name and
 * Age. New reference.
 */
json_t *table_columns(const struct api_resource *r);

/*
 * The cells of one row for @obj, an object of @r's kind, one per column of table_columns(),
 * wide columns included as the server always sends them. Cells are JSON strings or
 * integers as upstream's printer emits them. @now (NULL: the current time) is the instant
 * ages are measured from. Missing fields print as upstream prints zero values. New
 * reference.
 */
json_t *table_cells(const struct api_resource *r, const json_t *obj, const struct timespec *now);

/*
 * A duration as upstream's HumanDuration prints it, with about two significant figures
 * ("45s", "5m10s", "10m", "3h5m", "8h", "2d5h", "5d", "2y37d", "9y"); under -1 second is
 * "<invalid>", -1 is "0s". Heap string.
 */
char *table_human_duration(int64_t seconds);

#endif
