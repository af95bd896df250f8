CREATE TABLE `batch_chunk_events` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`run_id` bigint unsigned NOT NULL,
	`chunk_no` int unsigned NOT NULL,
	`kind` enum('CLAIM','STEAL','TAKEOVER','REFUSED') NOT NULL,
	`worker` binary(16) NOT NULL,
	`epoch` int unsigned NOT NULL,
	`at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	CONSTRAINT `batch_chunk_events_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE INDEX `idx_batch_chunk_events_run` ON `batch_chunk_events` (`run_id`,`id`);