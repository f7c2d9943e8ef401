SELECT `rows`.`_period`, count(*) AS `m_deals_won`, avg(`rows`.`Amount`) AS `m_average_deal_size`, count(*) AS `r_average_deal_size`, count(CASE WHEN (`rows`.`Amount` IS NULL) THEN 1 END) AS `z_average_deal_size` 
FROM (SELECT `sf_opportunity`.`Amount` AS `Amount`, CASE WHEN (`sf_opportunity`.`CloseDate` >= DATE '2026-10-01' AND `sf_opportunity`.`CloseDate` < DATE '2026-11-01') THEN 0 WHEN (`sf_opportunity`.`CloseDate` >= DATE '2026-09-01' AND `sf_opportunity`.`CloseDate` < DATE '2026-10-01') THEN 1 ELSE NULL END AS `_period` 
FROM `sf_opportunity` 
WHERE `sf_opportunity`.`IsWon` = true AND `sf_opportunity`.`CloseDate` >= DATE '2026-09-01' AND `sf_opportunity`.`CloseDate` < DATE '2026-11-01') AS `rows` GROUP BY `rows`.`_period`
