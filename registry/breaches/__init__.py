"""Personal data breaches (GDPR Arts. 33 and 34; SCC 2021/914 Clause 8.6;
EDPB Guidelines 9/2022): incidents reported by staff in append-only phases,
the controllers affected (computed from the sub-processor registry, adjusted
by staff with reasons), and the processor's notification obligation towards
each of them with its deadline from that controller's DPA."""
