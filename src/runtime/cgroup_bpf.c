/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device rules on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE built
 * from linux.resources.devices and attached to the container's cgroup. The rules are
 * checked last to first and the first match decides, so later rules override earlier ones
 * as they do in the v1 devices controller; no match denies.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/err.h"
#include "runtime/cgroup_internal.h"
#include "runtime/internal.h"

/* Registers the program keeps the request in (bpf_cgroup_dev_ctx, loaded once). */
enum { R_TYPE = 2, R_ACCESS = 3, R_MAJOR = 4, R_MINOR = 5, R_SCRATCH = 1 };

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i = {.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};

	return i;
}

static unsigned access_mask(const char *access)
{
	unsigned m = 0;

	for (const char *p = access; *p; p++)
		m |= *p == 'm'   ? BPF_DEVCG_ACC_MKNOD
		     : *p == 'r' ? BPF_DEVCG_ACC_READ
				 : BPF_DEVCG_ACC_WRITE;
	return m;
}

/* Emits one rule: jumps past itself unless the request matches, else returns allow/deny. */
static size_t emit_rule(struct bpf_insn *out, const struct rt_device_rule *r)
{
	struct bpf_insn body[8];
	unsigned acc = access_mask(r->access);
	size_t n = 0;

	if (r->type != 'a')
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R_TYPE, 0, 0,
				 r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
	if (acc != (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)) {
		/* every access asked for must be one the rule names */
		body[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, R_SCRATCH, R_ACCESS, 0, 0);
		body[n++] = insn(BPF_ALU | BPF_AND | BPF_K, R_SCRATCH, 0, 0, (int32_t)~acc);
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R_SCRATCH, 0, 0, 0);
	}
	if (r->major >= 0)
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R_MAJOR, 0, 0, (int32_t)r->major);
	if (r->minor >= 0)
		body[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, R_MINOR, 0, 0, (int32_t)r->minor);
	body[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r->allow ? 1 : 0);
	body[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	/* a failed test skips the rest of this rule */
	for (size_t i = 0; i < n; i++)
		if (BPF_CLASS(body[i].code) == BPF_JMP && BPF_OP(body[i].code) == BPF_JNE)
			body[i].off = (int16_t)(n - i - 1);
	memcpy(out, body, n * sizeof(*body));
	return n;
}

size_t cg_bpf_devices_program(const struct rt_device_rule *rules, size_t n, struct bpf_insn **ret)
{
	struct bpf_insn *p = xcalloc(6 + 8 * n + 2, sizeof(*p));
	size_t len = 0;

	/* access_type is (access << 16) | type; major and minor follow */
	p[len++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_TYPE, 1, 0, 0);
	p[len++] = insn(BPF_ALU | BPF_AND | BPF_K, R_TYPE, 0, 0, 0xffff);
	p[len++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_ACCESS, 1, 0, 0);
	p[len++] = insn(BPF_ALU | BPF_RSH | BPF_K, R_ACCESS, 0, 0, 16);
	p[len++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_MAJOR, 1, 4, 0);
	p[len++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_MINOR, 1, 8, 0);
	for (size_t i = n; i-- > 0;) {
		size_t k = emit_rule(p + len, &rules[i]);

		len += k;
		/* a rule without tests always decides: the verifier refuses code after it */
		if (k == 2) {
			*ret = p;
			return len;
		}
	}
	p[len++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
	p[len++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	*ret = p;
	return len;
}

static int bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int load(const struct bpf_insn *prog, size_t n, char *log, size_t log_size)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)prog;
	a.insn_cnt = (uint32_t)n;
	a.license = (uint64_t)(uintptr_t) "Apache-2.0";
	if (log) {
		a.log_buf = (uint64_t)(uintptr_t)log;
		a.log_size = (uint32_t)log_size;
		a.log_level = 1;
	}
	return bpf(BPF_PROG_LOAD, &a);
}

/* The ids of the device programs attached to @cgfd now, to detach once replaced. */
static size_t attached(int cgfd, uint32_t *ids, size_t max)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)cgfd;
	a.query.attach_type = BPF_CGROUP_DEVICE;
	a.query.prog_ids = (uint64_t)(uintptr_t)ids;
	a.query.prog_cnt = (uint32_t)max;
	if (bpf(BPF_PROG_QUERY, &a) < 0)
		return 0;
	return a.query.prog_cnt < max ? a.query.prog_cnt : max;
}

static void detach(int cgfd, uint32_t id)
{
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_id = id;
	fd = bpf(BPF_PROG_GET_FD_BY_ID, &a);
	if (fd < 0)
		return;
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)cgfd;
	a.attach_bpf_fd = (uint32_t)fd;
	a.attach_type = BPF_CGROUP_DEVICE;
	bpf(BPF_PROG_DETACH, &a);
	close(fd);
}

int cg_v2_apply_devices(struct cg_dir *d, const struct rt_resources *res, struct err *err)
{
	cleanup_free struct bpf_insn *prog = NULL;
	cleanup_close int cgfd = -1, progfd = -1;
	uint32_t old[64];
	size_t n, nold;
	union bpf_attr a;

	if (!res || !res->n_devices)
		return 0;
	n = cg_bpf_devices_program(res->devices, res->n_devices, &prog);
	progfd = load(prog, n, NULL, 0);
	if (progfd < 0) {
		/* again with the verifier's log, for the message */
		cleanup_free char *log = xcalloc(1, 65536);
		int saved = errno;
		size_t len;

		load(prog, n, log, 65536);
		len = strlen(log);
		errno = saved;
		return err_sys(err, "load the device filter for '%s' (verifier: %.300s)", d->path,
			       len > 300 ? log + len - 300 : log);
	}
	cgfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return err_sys(err, "open '%s'", d->path);
	nold = attached(cgfd, old, sizeof(old) / sizeof(old[0]));
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)cgfd;
	a.attach_bpf_fd = (uint32_t)progfd;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf(BPF_PROG_ATTACH, &a) < 0)
		return err_sys(err, "attach the device filter to '%s'", d->path);
	/* the new rules are in force: the ones they replace (update) can go */
	for (size_t i = 0; i < nold; i++)
		detach(cgfd, old[i]);
	return 0;
}
