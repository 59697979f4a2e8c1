// The paper's claims as explicit, numeric checks: one header per study, and the claim record
// they share (studies/claim_check.h). Each check turns measured numbers into a verdict ("held",
// "not held", "inconclusive") by one interval rule (studies/verdict.h) and keeps the numbers
// that decided it, so the report can say *why*. Thresholds are parameters, never hidden.
#pragma once
#include "studies/claim_check.h"
#include "studies/claims_distill.h"
#include "studies/claims_resilience.h"
#include "studies/claims_sgdr.h"
#include "studies/claims_warmup.h"
