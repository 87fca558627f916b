/* SPDX-License-Identifier: Apache-2.0 */
/*
 * skiff's version, for --version and for what servers report about themselves.
 */
#ifndef SKIFF_BASE_VERSION_H
#define SKIFF_BASE_VERSION_H

#define SKIFF_VERSION_STRING "0.1.0"

#endif
