#!/usr/bin/env bash
echo "working"
