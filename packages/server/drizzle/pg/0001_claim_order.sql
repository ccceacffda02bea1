DROP INDEX "flow_runs_claim";--> statement-breakpoint
DROP INDEX "flow_runs_deployment_state";--> statement-breakpoint
CREATE INDEX "flow_runs_claim" ON "flow_runs" USING btree ("work_queue_id","state_type","next_scheduled_start_time","id");--> statement-breakpoint
CREATE INDEX "flow_runs_deployment_state" ON "flow_runs" USING btree ("deployment_id","state_type","next_scheduled_start_time","id");