ALTER TABLE `batch_runs` ADD `pacing_baseline_us` int unsigned;--> statement-breakpoint
ALTER TABLE `was_instances` ADD `load_p99_us` int unsigned;--> statement-breakpoint
ALTER TABLE `was_instances` ADD `load_rps` int unsigned;--> statement-breakpoint
ALTER TABLE `was_instances` ADD `load_counts` varchar(1024);--> statement-breakpoint
ALTER TABLE `was_instances` ADD `load_reported_at` datetime(6);--> statement-breakpoint
ALTER TABLE `was_instances` ADD `pacing_run_id` bigint unsigned;--> statement-breakpoint
ALTER TABLE `was_instances` ADD `pacing_level` double;--> statement-breakpoint
ALTER TABLE `was_instances` ADD `pacing_reason` varchar(16);