"""Analysis: what the computed values mean. The variance report's model (:mod:`.variance`), exact
attribution of every movement to the branches and segments that caused it (:mod:`.methods`,
:mod:`.node`, :mod:`.attribution`, :mod:`.segments`) and the split of a score's change into new
activity and ageing (:mod:`.score_change`). It reads the warehouse only through the compute stage."""
