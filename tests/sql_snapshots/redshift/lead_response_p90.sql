SELECT rows._period, percentile_cont(0.9) WITHIN GROUP (ORDER BY CAST(rows.response_hours AS DOUBLE PRECISION)) AS m_p90_response_hours, count(*) AS r_p90_response_hours, count(CASE WHEN (rows.response_hours IS NULL) THEN 1 END) AS z_p90_response_hours 
FROM (SELECT (CAST(EXTRACT(epoch FROM rollup_first_touch_at.v) AS DOUBLE PRECISION) - CAST(EXTRACT(epoch FROM sf_lead."CreatedDate") AS DOUBLE PRECISION)) / CAST(CAST(3600.0 AS DOUBLE PRECISION) AS DOUBLE PRECISION) AS response_hours, CASE WHEN (sf_lead."CreatedDate" >= '2026-10-01 00:00:00+00:00' AND sf_lead."CreatedDate" < '2026-11-01 00:00:00+00:00') THEN 0 WHEN (sf_lead."CreatedDate" >= '2026-09-01 00:00:00+00:00' AND sf_lead."CreatedDate" < '2026-10-01 00:00:00+00:00') THEN 1 ELSE NULL END AS _period 
FROM sf_lead LEFT OUTER JOIN (SELECT sf_task."WhoId" AS k, min(sf_task."CreatedDate") AS v 
FROM sf_task 
WHERE sf_task."Status" = 'Completed' AND sf_task."WhoId" IS NOT NULL GROUP BY sf_task."WhoId") AS rollup_first_touch_at ON sf_lead."Id" = rollup_first_touch_at.k 
WHERE sf_lead."CreatedDate" >= '2026-09-01 00:00:00+00:00' AND sf_lead."CreatedDate" < '2026-11-01 00:00:00+00:00') AS rows GROUP BY rows._period
