/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cgroup v2 device filter: the generated eBPF program run through a small interpreter
 * of the instructions it uses, so the rules' meaning is checked without the kernel.
 */
#include <linux/bpf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"

/* Runs @p on one request; returns r0 (1 allow, 0 deny). Fails on anything unexpected. */
static int run(const struct bpf_insn *p, size_t n, uint32_t type, uint32_t access, uint32_t major,
	       uint32_t minor)
{
	uint32_t ctx[3] = {(access << 16) | type, major, minor};
	uint64_t r[11] = {0};

	r[1] = 0;
	for (size_t pc = 0; pc < n; pc++) {
		const struct bpf_insn *i = &p[pc];
		uint64_t k = (uint64_t)(int64_t)i->imm;

		/* the verifier refuses ALU instructions that use their reserved fields */
		if (BPF_CLASS(i->code) == BPF_ALU || BPF_CLASS(i->code) == BPF_ALU64) {
			assert_int_equal(i->off, 0);
			if (BPF_SRC(i->code) == BPF_K)
				assert_int_equal(i->src_reg, 0);
		}
		switch (i->code) {
		case BPF_LDX | BPF_MEM | BPF_W:
			assert_int_equal(i->src_reg, 1);
			r[i->dst_reg] = ctx[i->off / 4];
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			r[i->dst_reg] = (uint32_t)(r[i->dst_reg] & k);
			break;
		case BPF_ALU | BPF_RSH | BPF_K:
			r[i->dst_reg] = (uint32_t)r[i->dst_reg] >> i->imm;
			break;
		case BPF_ALU | BPF_MOV | BPF_X:
			r[i->dst_reg] = (uint32_t)r[i->src_reg];
			break;
		case BPF_ALU64 | BPF_MOV | BPF_K:
			r[i->dst_reg] = k;
			break;
		case BPF_JMP | BPF_JNE | BPF_K:
			if (r[i->dst_reg] != (uint64_t)(uint32_t)i->imm)
				pc += (size_t)i->off;
			break;
		case BPF_JMP | BPF_EXIT:
			return (int)r[0];
		default:
			fail_msg("unexpected instruction 0x%x at %zu", i->code, pc);
		}
	}
	fail_msg("program ran off its end");
	return -1;
}

static int check(const struct rt_device_rule *rules, size_t nrules, char type, const char *acc,
		 uint32_t major, uint32_t minor)
{
	struct bpf_insn *p = NULL;
	size_t n = cg_bpf_devices_program(rules, nrules, &p);
	uint32_t access = 0;
	int allowed;

	for (const char *a = acc; *a; a++)
		access |= *a == 'm'   ? BPF_DEVCG_ACC_MKNOD
			  : *a == 'r' ? BPF_DEVCG_ACC_READ
				      : BPF_DEVCG_ACC_WRITE;
	allowed = run(p, n, type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR, access, major,
		      minor);
	free(p);
	return allowed;
}

static const struct rt_device_rule default_rules[] = {
	{false, 'a', -1, -1, "rwm"}, {true, 'c', 1, 3, "rwm"},   {true, 'c', 1, 9, "rwm"},
	{true, 'c', 136, -1, "rwm"}, {true, 'c', 10, 229, "rw"},
};
#define N_DEFAULT (sizeof(default_rules) / sizeof(default_rules[0]))

static void test_devices_bpf_denies_what_no_rule_allows(void **state)
{
	(void)state;
	assert_int_equal(check(default_rules, N_DEFAULT, 'b', "r", 8, 0), 0);
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "w", 1, 1), 0);
	assert_int_equal(check(NULL, 0, 'c', "r", 1, 3), 0);
}

static void test_devices_bpf_allows_listed_devices(void **state)
{
	(void)state;
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "rw", 1, 3), 1);
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "m", 1, 9), 1);
}

static void test_devices_bpf_wildcard_minor_matches_every_minor(void **state)
{
	(void)state;
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "rw", 136, 0), 1);
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "rw", 136, 77), 1);
	assert_int_equal(check(default_rules, N_DEFAULT, 'b', "rw", 136, 0), 0);
}

static void test_devices_bpf_access_must_be_a_subset_of_the_rule(void **state)
{
	(void)state;
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "rw", 10, 229), 1);
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "m", 10, 229), 0);
	assert_int_equal(check(default_rules, N_DEFAULT, 'c', "rm", 10, 229), 0);
}

static void test_devices_bpf_later_rules_override_earlier_ones(void **state)
{
	static const struct rt_device_rule rules[] = {
		{true, 'a', -1, -1, "rwm"},
		{false, 'c', 1, 3, "w"},
	};

	(void)state;
	assert_int_equal(check(rules, 2, 'c', "r", 1, 3), 1);
	assert_int_equal(check(rules, 2, 'c', "w", 1, 3), 0);
	assert_int_equal(check(rules, 2, 'b', "rwm", 8, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_devices_bpf_denies_what_no_rule_allows),
		cmocka_unit_test(test_devices_bpf_allows_listed_devices),
		cmocka_unit_test(test_devices_bpf_wildcard_minor_matches_every_minor),
		cmocka_unit_test(test_devices_bpf_access_must_be_a_subset_of_the_rule),
		cmocka_unit_test(test_devices_bpf_later_rules_override_earlier_ones),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("devices_bpf", tests, NULL, NULL);
}
