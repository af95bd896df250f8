CREATE TABLE `batch_admissions` (
	`job` varchar(32) NOT NULL,
	`admitted` bigint unsigned NOT NULL DEFAULT 0,
	CONSTRAINT `batch_admissions_job` PRIMARY KEY(`job`)
);
--> statement-breakpoint
CREATE TABLE `event_flush_gates` (
	`event_id` bigint unsigned NOT NULL,
	`slot` int unsigned NOT NULL,
	`passes` bigint unsigned NOT NULL DEFAULT 0,
	CONSTRAINT `pk_event_flush_gates` PRIMARY KEY(`event_id`,`slot`)
);
