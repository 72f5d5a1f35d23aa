/* Rendering of a run's results (report.h): a fixed-width table and one JSON object. */
#include "bench/report.h"

#include "base/assert.h"

#include "proto/proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void hf_bench_op_stats_init(struct hf_bench_op_stats *stats)
{
	stats->ok = stats->refused = stats->errors = 0;
	stats->error_first = 0;
	stats->refused_first = 0;
	hf_hist_init(&stats->hist);
}

void hf_bench_op_stats_merge(struct hf_bench_op_stats *dst, const struct hf_bench_op_stats *src)
{
	dst->ok += src->ok;
	dst->refused += src->refused;
	dst->errors += src->errors;
	if (dst->error_first == 0)
		dst->error_first = src->error_first;
	if (dst->refused_first == 0)
		dst->refused_first = src->refused_first;
	hf_hist_merge(&dst->hist, &src->hist);
}

/* "SEAT_TAKEN", "ETIMEDOUT"-style name of a first error or refusal, into buf. */
static const char *error_name(int error, char *buf, size_t size)
{
	if (error == 0)
		snprintf(buf, size, "%s", "");
	else if (error < 0)
		snprintf(buf, size, "errno %d (%s)", -error, strerror(-error));
	else
		snprintf(buf, size, "%s", hf_status_name((uint16_t)error));
	return buf;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static int op_shown(const struct hf_bench_report *r, unsigned k)
{
	const struct hf_bench_op_stats *s = &r->ops[k];
	/* Events are created before the load: their row only means something in the create
	 * workload. The table shows what ran; JSON always has the five load operations (and
	 * ping when it ran). */
	if (k == HF_BENCH_OP_CREATE)
		return r->opts->workload == HF_BENCH_WORKLOAD_CREATE;
	return s->ok + s->refused + s->errors > 0;
}

static void cpu_table(FILE *out, const struct hf_bench_cpu *cpu)
{
	fprintf(out, "cpu per op: bench %.3f us (%.2f s for %" PRIu64 " ops)",
		hf_bench_cpu_bench_us_per_op(cpu), cpu->bench_s, cpu->ops);
	if (cpu->server_ok)
		fprintf(out, ", server %.3f us (%.2f s, pid %u)\n",
			hf_bench_cpu_server_us_per_op(cpu), cpu->server_s, cpu->server_pid);
	else if (cpu->server_pid != 0)
		fprintf(out, ", server - (pid %u could not be read)\n", cpu->server_pid);
	else
		fprintf(out, ", server - (give --server-pid)\n");
}

static void cpu_json(FILE *out, const struct hf_bench_cpu *cpu)
{
	double bench = hf_bench_cpu_bench_us_per_op(cpu);
	double server = hf_bench_cpu_server_us_per_op(cpu);
	fprintf(out, ", \"cpu\": {\"bench_us_per_op\": ");
	if (bench >= 0)
		fprintf(out, "%.4f", bench);
	else
		fprintf(out, "null");
	fprintf(out, ", \"server_us_per_op\": ");
	if (server >= 0)
		fprintf(out, "%.4f", server);
	else
		fprintf(out, "null");
	fprintf(out, ", \"bench_cpu_s\": %.3f, \"server_cpu_s\": ", cpu->bench_s);
	if (cpu->server_ok)
		fprintf(out, "%.3f", cpu->server_s);
	else
		fprintf(out, "null");
	fprintf(out, ", \"ops\": %" PRIu64 ", \"server_pid\": ", cpu->ops);
	if (cpu->server_pid != 0)
		fprintf(out, "%u}", cpu->server_pid);
	else
		fprintf(out, "null}");
}

void hf_bench_report_table(FILE *out, const struct hf_bench_report *r)
{
	const struct hf_bench_opts *o = r->opts;
	fprintf(out, "%s %s: %u connections x pipeline %u, %u threads, %.2f s measured%s\n",
		r->target_name, hf_bench_workload_name(o->workload), o->connections, o->pipeline,
		o->threads, r->duration_s, o->rate_ops_per_s > 0 ? ", open loop" : ", closed loop");
	fprintf(out, "%-8s %12s %10s %9s %7s %9s %9s %9s %9s %9s\n", "op", "ok/s", "ok", "refused",
		"errors", "p50_us", "p90_us", "p99_us", "p99.9_us", "max_us");
	for (unsigned k = 0; k < HF_BENCH_OP_KINDS; k++) {
		if (!op_shown(r, k))
			continue;
		const struct hf_bench_op_stats *s = &r->ops[k];
		fprintf(out,
			"%-8s %12.0f %10" PRIu64 " %9" PRIu64 " %7" PRIu64
			" %9.1f %9.1f %9.1f %9.1f %9.1f\n",
			hf_bench_op_name(k),
			r->duration_s > 0 ? (double)s->ok / r->duration_s : 0.0, s->ok, s->refused,
			s->errors, us(hf_hist_percentile(&s->hist, 50)),
			us(hf_hist_percentile(&s->hist, 90)), us(hf_hist_percentile(&s->hist, 99)),
			us(hf_hist_percentile(&s->hist, 99.9)), us(s->hist.value_max_ns));
	}
	for (unsigned k = 0; k < HF_BENCH_OP_KINDS; k++) {
		const struct hf_bench_op_stats *s = &r->ops[k];
		char e1[96], e2[96];
		if (!op_shown(r, k) || (s->errors == 0 && s->refused == 0))
			continue;
		fprintf(out, "  %s: first refusal %s, first error %s\n", hf_bench_op_name(k),
			s->refused ? error_name(s->refused_first, e1, sizeof(e1)) : "-",
			s->errors ? error_name(s->error_first, e2, sizeof(e2)) : "-");
	}
	if (o->workload == HF_BENCH_WORKLOAD_ONSALE) {
		static const char *const names[HF_BENCH_SELLOUT_MARKS] = {"50%", "90%", "99%",
									  "100%"};
		fprintf(out, "sell-out (booked %" PRIu64 " of %u seats):", r->seats_booked,
			o->seats);
		for (unsigned i = 0; i < HF_BENCH_SELLOUT_MARKS; i++) {
			if (r->sellout_ns[i])
				fprintf(out, " %s %.1f ms", names[i],
					(double)r->sellout_ns[i] / 1e6);
			else
				fprintf(out, " %s -", names[i]);
		}
		if (r->soldout_ns)
			fprintf(out, "; all held or booked at %.1f ms",
				(double)r->soldout_ns / 1e6);
		fprintf(out, "\n");
	}
	if (o->rate_ops_per_s > 0) {
		fprintf(out,
			"open loop at %.0f ops/s: %" PRIu64 " sends > 1 ms late, max lag %.1f ms,"
			" %" PRIu64 " never sent%s\n",
			o->rate_ops_per_s, r->sends_late, (double)r->send_lag_ns_max / 1e6,
			r->sends_missed,
			r->sends_late || r->sends_missed ? " (target or bench did not keep up)"
							 : "");
	}
	cpu_table(out, &r->cpu);
	if (r->check.ran) {
		const struct hf_bench_check *c = &r->check;
		fprintf(out,
			"check %s: seats %" PRIu64 " = free %" PRIu64 " + held %" PRIu64
			" + booked %" PRIu64 "; bench booked %" PRIu64 " held %" PRIu64
			"; owner mismatches %" PRIu64 ", bitmap mismatches %" PRIu64
			", double owned %" PRIu64 ", conflicts %" PRIu64
			", outcomes unknown %" PRIu64 "%s%s\n",
			c->ok ? "PASS" : "FAIL", c->seats, c->free_count, c->held_count,
			c->booked_count, c->bench_booked, c->bench_held, c->owner_mismatches,
			c->bitmap_mismatches, c->double_owned, c->ledger_conflicts,
			c->outcomes_unknown, c->message[0] ? ": " : "", c->message);
	}
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void json_ms_or_null(FILE *out, uint64_t ns)
{
	if (ns)
		fprintf(out, "%.3f", (double)ns / 1e6);
	else
		fprintf(out, "null");
}

void hf_bench_report_json(FILE *out, const struct hf_bench_report *r)
{
	const struct hf_bench_opts *o = r->opts;
	fprintf(out, "{\"target\": ");
	json_string(out, r->target_name);
	fprintf(out, ", \"workload\": ");
	json_string(out, hf_bench_workload_name(o->workload));
	fprintf(out,
		", \"connections\": %u, \"pipeline\": %u, \"batch\": %u, \"threads\": %u"
		", \"duration_s\": %.3f"
		", \"rate\": %.1f, \"seed\": %" PRIu64 ", \"event_base\": %" PRIu64
		", \"seats\": %u, \"events\": %u, \"pick\": \"%s\", \"ops\": {",
		o->connections, o->pipeline, o->batch, o->threads, r->duration_s, o->rate_ops_per_s,
		o->seed, o->event_base, o->seats, o->events, o->pick_best ? "best" : "random");
	int first = 1;
	uint64_t ok_total = 0;
	for (unsigned k = 0; k < HF_BENCH_OP_KINDS; k++) {
		const struct hf_bench_op_stats *s = &r->ops[k];
		char e1[96], e2[96];
		if ((k == HF_BENCH_OP_CREATE || k == HF_BENCH_OP_PING) && !op_shown(r, k))
			continue;
		ok_total += s->ok;
		fprintf(
		    out,
		    "%s\"%s\": {\"ok_per_s\": %.1f, \"ok\": %" PRIu64 ", \"refused\": %" PRIu64
		    ", \"errors\": %" PRIu64 ", \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": "
		    "%.1f, \"p999_us\": %.1f, \"max_us\": %.1f, \"mean_us\": %.1f, "
		    "\"first_refusal\": \"%s\", \"first_error\": \"%s\"}",
		    first ? "" : ", ", hf_bench_op_name(k),
		    r->duration_s > 0 ? (double)s->ok / r->duration_s : 0.0, s->ok, s->refused,
		    s->errors, us(hf_hist_percentile(&s->hist, 50)),
		    us(hf_hist_percentile(&s->hist, 90)), us(hf_hist_percentile(&s->hist, 99)),
		    us(hf_hist_percentile(&s->hist, 99.9)), us(s->hist.value_max_ns),
		    hf_hist_mean(&s->hist) / 1000.0, error_name(s->refused_first, e1, sizeof(e1)),
		    error_name(s->error_first, e2, sizeof(e2)));
		first = 0;
	}
	fprintf(out, "}, \"ok_per_s\": %.1f",
		r->duration_s > 0 ? (double)ok_total / r->duration_s : 0.0);
	fprintf(out, ", \"sellout\": {\"t50_ms\": ");
	json_ms_or_null(out, r->sellout_ns[0]);
	fprintf(out, ", \"t90_ms\": ");
	json_ms_or_null(out, r->sellout_ns[1]);
	fprintf(out, ", \"t99_ms\": ");
	json_ms_or_null(out, r->sellout_ns[2]);
	fprintf(out, ", \"t100_ms\": ");
	json_ms_or_null(out, r->sellout_ns[3]);
	fprintf(out, ", \"all_taken_ms\": ");
	json_ms_or_null(out, r->soldout_ns);
	fprintf(out, ", \"booked\": %" PRIu64 "}", r->seats_booked);
	fprintf(out,
		", \"open_loop\": {\"rate\": %.1f, \"sends_late\": %" PRIu64
		", \"send_lag_ms_max\": %.3f, \"sends_missed\": %" PRIu64 ", \"kept_up\": %s}",
		o->rate_ops_per_s, r->sends_late, (double)r->send_lag_ns_max / 1e6, r->sends_missed,
		r->sends_late == 0 && r->sends_missed == 0 ? "true" : "false");
	cpu_json(out, &r->cpu);
	const struct hf_bench_check *c = &r->check;
	fprintf(out,
		", \"check\": {\"ran\": %s, \"ok\": %s, \"seats\": %" PRIu64 ", \"free\": %" PRIu64
		", \"held\": %" PRIu64 ", \"booked\": %" PRIu64 ", \"bench_booked\": %" PRIu64
		", \"bench_held\": %" PRIu64 ", \"owner_mismatches\": %" PRIu64
		", \"bitmap_mismatches\": %" PRIu64 ", \"double_owned\": %" PRIu64
		", \"ledger_conflicts\": %" PRIu64 ", \"outcomes_unknown\": %" PRIu64
		", \"message\": ",
		c->ran ? "true" : "false", c->ran ? (c->ok ? "true" : "false") : "null", c->seats,
		c->free_count, c->held_count, c->booked_count, c->bench_booked, c->bench_held,
		c->owner_mismatches, c->bitmap_mismatches, c->double_owned, c->ledger_conflicts,
		c->outcomes_unknown);
	json_string(out, c->message);
	fprintf(out, "}}\n");
}
