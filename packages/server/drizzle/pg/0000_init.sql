CREATE TABLE "deployment_schedules" (
	"id" text PRIMARY KEY NOT NULL,
	"deployment_id" text NOT NULL,
	"position" integer NOT NULL,
	"schedule" json NOT NULL,
	"active" boolean NOT NULL,
	"slug" text,
	"parameters" json NOT NULL,
	"max_scheduled_runs" integer,
	"catchup" text NOT NULL,
	"max_late_seconds" integer,
	"created" text COLLATE "C" NOT NULL,
	"updated" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deployments" (
	"id" text PRIMARY KEY NOT NULL,
	"flow_id" text NOT NULL,
	"name" text NOT NULL,
	"entrypoint" text,
	"parameters" json NOT NULL,
	"parameter_schema" json,
	"enforce_parameter_schema" boolean NOT NULL,
	"tags" jsonb NOT NULL,
	"description" text,
	"version" text,
	"work_queue_id" text,
	"job_variables" json NOT NULL,
	"concurrency_limit" integer,
	"collision_strategy" text NOT NULL,
	"pull_steps" json NOT NULL,
	"flow_run_name" text,
	"paused" boolean NOT NULL,
	"last_polled" text COLLATE "C",
	"created" text COLLATE "C" NOT NULL,
	"updated" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "flow_run_states" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "flow_run_states_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"flow_run_id" text NOT NULL,
	"type" text NOT NULL,
	"name" text NOT NULL,
	"timestamp" text COLLATE "C" NOT NULL,
	"message" text,
	"scheduled_time" text COLLATE "C"
);
--> statement-breakpoint
CREATE TABLE "flow_runs" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"flow_id" text NOT NULL,
	"deployment_id" text,
	"work_queue_id" text,
	"state_type" text NOT NULL,
	"state_name" text NOT NULL,
	"state_timestamp" text COLLATE "C" NOT NULL,
	"state_message" text,
	"next_scheduled_start_time" text COLLATE "C",
	"expected_start_time" text COLLATE "C" NOT NULL,
	"start_time" text COLLATE "C",
	"end_time" text COLLATE "C",
	"run_count" integer NOT NULL,
	"retries" integer,
	"retry_delay_seconds" integer,
	"retry_in_process" boolean NOT NULL,
	"parameters" json NOT NULL,
	"tags" jsonb NOT NULL,
	"idempotency_key" text,
	"job_variables" json NOT NULL,
	"auto_scheduled" boolean NOT NULL,
	"parent_flow_run_id" text,
	"schedule_id" text,
	"worker_name" text,
	"claim_hash" text,
	"infrastructure_id" text,
	"last_heartbeat" text COLLATE "C",
	"trace_context" text,
	"result" json,
	"created" text COLLATE "C" NOT NULL,
	"updated" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "flows" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"tags" jsonb NOT NULL,
	"created" text COLLATE "C" NOT NULL,
	CONSTRAINT "flows_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "logs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "logs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"flow_run_id" text NOT NULL,
	"timestamp" text COLLATE "C" NOT NULL,
	"level" text NOT NULL,
	"message" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "work_pools" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"description" text,
	"is_paused" boolean NOT NULL,
	"concurrency_limit" integer,
	"default_queue_id" text NOT NULL,
	"base_job_template" json NOT NULL,
	"created" text COLLATE "C" NOT NULL,
	"updated" text COLLATE "C" NOT NULL,
	CONSTRAINT "work_pools_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "work_queues" (
	"id" text PRIMARY KEY NOT NULL,
	"work_pool_id" text NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"is_paused" boolean NOT NULL,
	"concurrency_limit" integer,
	"priority" integer NOT NULL,
	"last_polled" text COLLATE "C",
	"created" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workers" (
	"id" text PRIMARY KEY NOT NULL,
	"work_pool_id" text NOT NULL,
	"name" text NOT NULL,
	"last_heartbeat" text COLLATE "C" NOT NULL,
	"heartbeat_interval_seconds" integer NOT NULL,
	"created" text COLLATE "C" NOT NULL
);
--> statement-breakpoint
ALTER TABLE "deployment_schedules" ADD CONSTRAINT "deployment_schedules_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_flow_id_flows_id_fk" FOREIGN KEY ("flow_id") REFERENCES "public"."flows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deployments" ADD CONSTRAINT "deployments_work_queue_id_work_queues_id_fk" FOREIGN KEY ("work_queue_id") REFERENCES "public"."work_queues"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "flow_run_states" ADD CONSTRAINT "flow_run_states_flow_run_id_flow_runs_id_fk" FOREIGN KEY ("flow_run_id") REFERENCES "public"."flow_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "flow_runs" ADD CONSTRAINT "flow_runs_flow_id_flows_id_fk" FOREIGN KEY ("flow_id") REFERENCES "public"."flows"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "flow_runs" ADD CONSTRAINT "flow_runs_deployment_id_deployments_id_fk" FOREIGN KEY ("deployment_id") REFERENCES "public"."deployments"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "flow_runs" ADD CONSTRAINT "flow_runs_work_queue_id_work_queues_id_fk" FOREIGN KEY ("work_queue_id") REFERENCES "public"."work_queues"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "logs" ADD CONSTRAINT "logs_flow_run_id_flow_runs_id_fk" FOREIGN KEY ("flow_run_id") REFERENCES "public"."flow_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "work_queues" ADD CONSTRAINT "work_queues_work_pool_id_work_pools_id_fk" FOREIGN KEY ("work_pool_id") REFERENCES "public"."work_pools"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workers" ADD CONSTRAINT "workers_work_pool_id_work_pools_id_fk" FOREIGN KEY ("work_pool_id") REFERENCES "public"."work_pools"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "deployment_schedules_deployment" ON "deployment_schedules" USING btree ("deployment_id");--> statement-breakpoint
CREATE UNIQUE INDEX "deployment_schedules_slug" ON "deployment_schedules" USING btree ("deployment_id","slug") WHERE slug IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "deployments_flow_name" ON "deployments" USING btree ("flow_id","name");--> statement-breakpoint
CREATE INDEX "deployments_work_queue" ON "deployments" USING btree ("work_queue_id");--> statement-breakpoint
CREATE INDEX "flow_run_states_run" ON "flow_run_states" USING btree ("flow_run_id");--> statement-breakpoint
CREATE UNIQUE INDEX "flow_runs_idempotency" ON "flow_runs" USING btree ("flow_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "flow_runs_claim" ON "flow_runs" USING btree ("work_queue_id","state_type","next_scheduled_start_time");--> statement-breakpoint
CREATE INDEX "flow_runs_deployment_state" ON "flow_runs" USING btree ("deployment_id","state_type");--> statement-breakpoint
CREATE INDEX "flow_runs_deployment_expected" ON "flow_runs" USING btree ("deployment_id","expected_start_time");--> statement-breakpoint
CREATE INDEX "flow_runs_flow_expected" ON "flow_runs" USING btree ("flow_id","expected_start_time");--> statement-breakpoint
CREATE INDEX "flow_runs_schedule_state" ON "flow_runs" USING btree ("schedule_id","state_type","next_scheduled_start_time");--> statement-breakpoint
CREATE INDEX "flow_runs_state_expected" ON "flow_runs" USING btree ("state_type","expected_start_time");--> statement-breakpoint
CREATE INDEX "flow_runs_expected" ON "flow_runs" USING btree ("expected_start_time");--> statement-breakpoint
CREATE INDEX "flow_runs_parent" ON "flow_runs" USING btree ("parent_flow_run_id");--> statement-breakpoint
CREATE INDEX "logs_run" ON "logs" USING btree ("flow_run_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "work_queues_pool_name" ON "work_queues" USING btree ("work_pool_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "workers_pool_name" ON "workers" USING btree ("work_pool_id","name");