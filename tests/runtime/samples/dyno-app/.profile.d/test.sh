export PROFILE_RAN="${PROFILE_RAN:-yes}"
