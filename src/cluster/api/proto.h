/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes protobuf request bodies (Content-Type application/vnd.kubernetes.protobuf, what
 * kubectl sends for create, auth can-i, drain and create token) turned into the JSON the
 * rest of the API server reads. Decoding only: answers stay JSON, which clients accept.
 * The messages come from proto.def, compiled into the binary.
 */
#ifndef SKIFF_CLUSTER_API_PROTO_H
#define SKIFF_CLUSTER_API_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct err;

/* Whether @buf starts with the magic "k8s\0" of Kubernetes' protobuf envelope. */
bool proto_is_k8s(const char *buf, size_t len);

/*
 * Decodes a whole body (magic, then a runtime.Unknown carrying apiVersion, kind and the
 * object's bytes) into a new JSON object whose first members are apiVersion and kind, with
 * the field names, omissions and value forms of upstream's JSON encoding (times as RFC
 * 3339 strings, quantities as strings, bytes as base64, int-or-string as either).
 * Errors: -EINVAL for a body that is not well-formed protobuf of its kind (the message
 * names the message and field); -ENOTSUP for an apiVersion/kind with no message here or a
 * content encoding other than none.
 */
int proto_to_json(const char *buf, size_t len, json_t **ret, struct err *err);

#endif
