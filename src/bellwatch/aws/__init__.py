"""Everything that talks to AWS. The only package that imports boto3 (``bellwatch[aws]``).

- :mod:`.session`: the one boto3 import site (``client()``).
- :mod:`.clients`: cached clients per region/profile, AWS error codes.
- :mod:`.config`: alarm thresholds, periods and statistics (defaults, TOML, ``--set``).
- :mod:`.plan`: desired state -> create / update / unchanged, apply.
- :mod:`.teardown`: tag-scoped teardown of one stack in one region.
- :mod:`.export`: the same resources as a CloudFormation template.
- :mod:`.resources`: SNS topic + email subscription, log group, metric filter, alarm, dashboard.
- :mod:`.metric_filters`, :mod:`.alarms`, :mod:`.dashboard`: what setup installs.
- :mod:`.discover`: cluster, service, load balancer, target group, log group from ECS.
- :mod:`.health`: ECS task counts, deployments, events, target health.
- :mod:`.permissions`: the IAM policy each job needs (``bellwatch aws policy``).
- :mod:`.usage`: what a log group and its monitoring use, as CloudWatch reports it
  (``bellwatch aws cost``; :mod:`bellwatch.cost` prices it).
- :mod:`.cli`: the ``bellwatch aws`` click group (``setup``, ``teardown``, ``health``,
  ``policy``, ``cost``).
"""
