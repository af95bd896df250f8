CREATE TABLE `batch_target_sets` (
	`run_id` bigint unsigned NOT NULL,
	`part` int unsigned NOT NULL,
	`bytes` mediumblob NOT NULL,
	CONSTRAINT `pk_batch_target_sets` PRIMARY KEY(`run_id`,`part`)
);
