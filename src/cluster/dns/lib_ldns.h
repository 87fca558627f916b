/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ldns, loaded on first use by the DNS server only (dns_ldns_load() in internal.h): the
 * names below are redirected to pointers, so skiff's other roles never load it.
 */
#ifndef SKIFF_CLUSTER_DNS_LIB_LDNS_H
#define SKIFF_CLUSTER_DNS_LIB_LDNS_H

#include <ldns/ldns.h>

#define DNS_LDNS_SYMS(X)                                                                           \
	X(ldns_wire2pkt)                                                                           \
	X(ldns_pkt2wire)                                                                           \
	X(ldns_pkt_new)                                                                            \
	X(ldns_pkt_free)                                                                           \
	X(ldns_pkt_query_new)                                                                      \
	X(ldns_pkt_id)                                                                             \
	X(ldns_pkt_set_id)                                                                         \
	X(ldns_pkt_qr)                                                                             \
	X(ldns_pkt_set_qr)                                                                         \
	X(ldns_pkt_set_aa)                                                                         \
	X(ldns_pkt_tc)                                                                             \
	X(ldns_pkt_set_tc)                                                                         \
	X(ldns_pkt_rd)                                                                             \
	X(ldns_pkt_set_rd)                                                                         \
	X(ldns_pkt_cd)                                                                             \
	X(ldns_pkt_set_cd)                                                                         \
	X(ldns_pkt_set_ra)                                                                         \
	X(ldns_pkt_get_opcode)                                                                     \
	X(ldns_pkt_set_opcode)                                                                     \
	X(ldns_pkt_get_rcode)                                                                      \
	X(ldns_pkt_set_rcode)                                                                      \
	X(ldns_pkt_qdcount)                                                                        \
	X(ldns_pkt_question)                                                                       \
	X(ldns_pkt_answer)                                                                         \
	X(ldns_pkt_authority)                                                                      \
	X(ldns_pkt_additional)                                                                     \
	X(ldns_pkt_aa)                                                                             \
	X(ldns_pkt_push_rr)                                                                        \
	X(ldns_pkt_edns)                                                                           \
	X(ldns_pkt_edns_udp_size)                                                                  \
	X(ldns_pkt_edns_version)                                                                   \
	X(ldns_pkt_edns_do)                                                                        \
	X(ldns_pkt_set_edns_udp_size)                                                              \
	X(ldns_pkt_set_edns_do)                                                                    \
	X(ldns_pkt_set_edns_extended_rcode)                                                        \
	X(ldns_rr_list_rr_count)                                                                   \
	X(ldns_rr_list_rr)                                                                         \
	X(ldns_rr_new_frm_str)                                                                     \
	X(ldns_rr_clone)                                                                           \
	X(ldns_rr_free)                                                                            \
	X(ldns_rr_owner)                                                                           \
	X(ldns_rr_set_owner)                                                                       \
	X(ldns_rr_get_type)                                                                        \
	X(ldns_rr_get_class)                                                                       \
	X(ldns_rdf_clone)                                                                          \
	X(ldns_rdf_deep_free)                                                                      \
	X(ldns_rdf2str)                                                                            \
	X(ldns_rr2str)                                                                             \
	X(ldns_dname_new_frm_str)

#define DNS_LDNS_DECLARE(name) extern __typeof__(name) *dl_p_##name;
DNS_LDNS_SYMS(DNS_LDNS_DECLARE)
#undef DNS_LDNS_DECLARE

#ifndef DL_LIBS_IMPL
#include "cluster/dns/lib_ldns_redirect.h"
#endif

#endif
