#!/usr/bin/env python3
"""A dynamic inventory with _meta.hostvars."""

import json
import sys

if sys.argv[1:] == ["--list"]:
    print(
        json.dumps(
            {
                "web": {
                    "hosts": ["web1", "web2"],
                    "vars": {"ansible_user": "deploy", "tier": "web"},
                },
                "db": ["db1"],
                "prod": {"children": ["web", "db"], "vars": {"ansible_port": 2200}},
                "lonely": {"ansible_host": "192.0.2.9"},
                "_meta": {
                    "hostvars": {
                        "web2": {"ansible_host": "192.0.2.2", "ansible_ssh_user": "ssh-user"}
                    }
                },
            }
        )
    )
else:
    print("{}")
